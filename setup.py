"""Install fer_zoo: `pip install .` (add `[test]`, `[tune]` or `[export]` extras as needed)."""

import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
README = (HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else ""

setup(
    name="fer_zoo",
    version="0.1.0",
    description=(
        "Keras 3 model zoo for pose- and illumination-invariant facial expression "
        "recognition with generative adversarial training (GASCA, JPEM, FESR, REL-GAN)."
    ),
    long_description=README,
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["fer_zoo", "fer_zoo.*"]),
    include_package_data=True,
    package_data={"fer_zoo": ["zoo/weights/*.h5", "zoo/weights/*.keras", "zoo/weights/*.json", "zoo/cards/*.md",
                              "data/weights/*.h5", "data/weights/*.json"]},
    install_requires=[
        "tensorflow>=2.21",
        "keras>=3.10",
        "numpy>=1.26",
        # Headless build: no GUI deps on servers/CI; <5 because 5.x ships no Haar cascades.
        "opencv-python-headless>=4.9,<5",
        "pillow>=10",
    ],
    extras_require={
        "tune": ["keras-tuner>=1.4", "tensorboard"],
        "export": ["tf2onnx>=1.16", "onnxruntime>=1.17"],
        # The `fer` package compared against in benchmarks/ must be installed separately with
        # `pip install --no-deps fer==25.10.3` (its own pins break TensorFlow 2.21); these are
        # the imports it needs at run time.
        "bench": ["requests", "pillow", "setuptools<81"],
        "test": [
            "pytest>=8", "pytest-xdist>=3", "ruff>=0.5", "nbmake>=1.5", "keras-tuner>=1.4",
            "tensorboard", "tf2onnx>=1.16", "onnxruntime>=1.17",
        ],
    },
    entry_points={"console_scripts": ["fer-zoo=fer_zoo.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)
