# Mask R-CNN ResTv2-T, 3x schedule, fine-tuned with CWIN attention (ResTv2 paper Sec. 5.1,
# Table 4): windows + a depth-wise 3x3 conv after each stage (identity at start).
# Any ResTv2 config switches the same way: --cfg-options model.backbone.attn_style=cwin
_base_ = ['./mask_rcnn_restv2_t_3x.py']

model = dict(backbone=dict(attn_style='cwin', window_size=(64, 32, 16, 8)))
