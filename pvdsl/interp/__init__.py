"""pvdsl.interp"""
