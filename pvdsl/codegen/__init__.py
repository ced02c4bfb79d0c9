"""pvdsl.codegen"""
