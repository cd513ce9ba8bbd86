# Mask R-CNN ResTv2-T, 1x schedule, fine-tuned with WIN attention (ResTv2 paper Sec. 5.1,
# Table 4): every block attends inside 64/32/16/8-token windows per stage.
# Any ResTv2 config switches the same way: --cfg-options model.backbone.attn_style=win
_base_ = ['./mask_rcnn_restv2_t_1x.py']

model = dict(backbone=dict(attn_style='win', window_size=(64, 32, 16, 8)))
