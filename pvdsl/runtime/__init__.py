"""pvdsl.runtime"""
