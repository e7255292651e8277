"""The model families, one module each: its config class (the fields it adds to ModelConfig and
its parameter count) and its builder, decorated with `@register(name, Config)`.

The registry finds them by listing this folder, so adding a family is one new file here. A
config naming the family imports its module: Keras is imported inside the builder, not at the top.
"""
