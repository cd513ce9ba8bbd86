# Mask R-CNN ResTv2-T, 1x schedule, fine-tuned with HWIN attention (ResTv2 paper Sec. 5.1,
# Table 4): windows in every block except the last of each stage, which is global.
# Any ResTv2 config switches the same way: --cfg-options model.backbone.attn_style=hwin
_base_ = ['./mask_rcnn_restv2_t_1x.py']

model = dict(backbone=dict(attn_style='hwin', window_size=(64, 32, 16, 8)))
