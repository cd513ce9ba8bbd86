# ResTv2-B fine-tuned on ImageNet-1k at 384x384 from the 224 model: the recipe of
# restv2_t_in1k_384.py (ResTv2 paper, Sec. 4.1) on the model of restv2_b_in1k.py.
_base_ = ['./restv2_t_in1k_384.py']

model = dict(backbone=dict(arch='base', drop_path_rate=0.3), head=dict(in_channels=768))

# The 224 classifier to fine-tune: a checkpoint of restv2_b_in1k.py or the authors' file
# converted with tools/convert_official.py; override with --cfg-options load_from=PATH.
load_from = 'checkpoints/restv2_b_in1k.pth'
