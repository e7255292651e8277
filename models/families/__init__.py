"""The model families, one module each: a builder decorated with `@register(name)`.

The registry finds them by listing this folder, so adding a family is one new file here with
one decorated function (plus its fields in models/config.py).
"""
