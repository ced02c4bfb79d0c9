"""pvdsl.fuzz"""
