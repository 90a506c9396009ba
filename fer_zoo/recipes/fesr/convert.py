"""Convert the public Light CNN-29 v2 PyTorch checkpoint to a Keras `.weights.h5` for FESR.

```
python -m fer_zoo.recipes.fesr.convert LightCNN_29Layers_V2_checkpoint.pth.tar lightcnn29_v2.weights.h5
```
then train with `train(..., light_cnn_checkpoint="LightCNN_29Layers_V2_checkpoint.pth.tar")` (the
recipe converts on the fly) or load the `.weights.h5` into `build_light_cnn29()`. Needs PyTorch
only to read the `.pth.tar` (read with `weights_only=True`); the mapping itself is
`light_cnn.convert_lightcnn_state_dict`.
"""

import argparse
import pathlib

from fer_zoo.recipes.fesr import light_cnn


def convert_checkpoint(checkpoint, output, input_size=128):
    """Read `checkpoint` (.pth/.pth.tar), map it onto Light CNN-29 v2 and save `output`.

    Returns the number of layers filled.
    """
    output = pathlib.Path(output)
    if not output.name.endswith(".weights.h5"):
        raise ValueError(f"convert_checkpoint: output {str(output)!r} must end with '.weights.h5'.")
    model = light_cnn.build_light_cnn29(input_size=input_size)
    filled = light_cnn.load_lightcnn_checkpoint(checkpoint, model)
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(output))
    return len(filled)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="LightCNN_29Layers_V2_checkpoint.pth.tar")
    parser.add_argument("output", help="destination .weights.h5")
    parser.add_argument("--input-size", type=int, default=128)
    args = parser.parse_args(argv)
    n = convert_checkpoint(args.checkpoint, args.output, args.input_size)
    print(f"converted {n} layers -> {args.output}")


if __name__ == "__main__":
    main()
