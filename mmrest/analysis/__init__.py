from .complexity import BackboneSummary, count_parameters, summarize_backbone
from .flops import count_flops, flops_by_class

__all__ = ['BackboneSummary', 'count_flops', 'count_parameters', 'flops_by_class',
           'summarize_backbone']
