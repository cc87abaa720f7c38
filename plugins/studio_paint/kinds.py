"""The architectures of paint's models, as their cards name them (torch-free, so that task
schemas can say which kind a ``model`` parameter takes)."""

CYCLEGAN = "cyclegan-resnet"  # a translator: two CycleGAN ResNet generators (or one, imported)
FAST_STYLE = "johnson-transformer"  # a feed-forward style network (paint.train-style)
