from .complexity import BackboneSummary, count_flops, count_parameters, summarize_backbone

__all__ = ['BackboneSummary', 'count_flops', 'count_parameters', 'summarize_backbone']
