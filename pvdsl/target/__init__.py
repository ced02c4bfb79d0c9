"""pvdsl.target"""
