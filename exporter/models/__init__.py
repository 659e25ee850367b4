"""exporter.models: the network definitions the zoo builds (CIFAR ResNets and variants, EfficientNet-Lite,
FastestDet). `exporter.zoo` registers them; import the modules themselves: this file imports nothing."""
