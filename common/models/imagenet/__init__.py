"""ImageNet-sized (224x224) models in torchvision's layout; importing this package registers them."""

from common.models.imagenet import mobilenet, resnet, vgg  # noqa: F401  (registration side effects)
