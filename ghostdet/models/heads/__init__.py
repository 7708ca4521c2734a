from .light_sepbn_head import LightSepBNHead

__all__ = ['LightSepBNHead']
