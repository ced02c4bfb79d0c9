"""pvdsl.syntax"""
