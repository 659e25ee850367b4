"""exporter.train: training and fine-tuning (`loop`: the SGD recipe and the `train` command), the fine-tuning
loop `qat` and `sparsify` share (`finetune`), knowledge distillation (`distill`) and quantization-aware training
(`qat`). Import the modules themselves: this file imports nothing."""
