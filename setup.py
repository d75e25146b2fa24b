"""pip packaging of skeleton_perception (pure Python part).

In a ROS 2 workspace the package is built by colcon through CMakeLists.txt (which also
generates the messages); ``scripts/setup.sh`` does the same into a virtual environment.
This file serves ``pip install .`` / wheels: it installs the runtime package, the training
package *under the project's namespace* (``training/`` -> ``skeleton_perception.training``,
never a top-level ``training`` module), the data files and the console scripts. The
message classes (``skeleton_perception.msg``) need the rosidl build and are not part of it.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def _requirements() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


runtime = find_packages(include=["skeleton_perception", "skeleton_perception.*"])
training = ["skeleton_perception.training"] + [
    f"skeleton_perception.training.{p}" for p in find_packages(where="training")
]

setup(
    name="skeleton_perception",
    version="0.1.0",
    description="Unsupervised skeleton (joints + links) prediction from one image, for ROS 2.",
    long_description=(ROOT / "README.md").read_text() if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=runtime + training,
    package_dir={"skeleton_perception.training": "training"},
    package_data={
        "skeleton_perception": ["weights/*.pt"],
        "skeleton_perception.training": ["configs/*.yaml"],
    },
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/skeleton_perception"]),
        ("share/skeleton_perception", ["package.xml"]),
        ("share/skeleton_perception/launch", [str(p) for p in Path("launch").glob("*.py")]),
        ("share/skeleton_perception/config", [str(p) for p in Path("config").glob("*.yaml")]),
        ("share/skeleton_perception/rviz", [str(p) for p in Path("rviz").glob("*.rviz")]),
    ],
    install_requires=_requirements(),
    extras_require={"test": ["pytest>=8", "pytest-timeout>=2.3"]},
    entry_points={
        "console_scripts": [
            "skeleton-perception = skeleton_perception.cli:main",
            "detector = skeleton_perception.nodes.detector_node:main",
            "sim_camera = skeleton_perception.nodes.sim_camera_node:main",
            "skeleton_3d = skeleton_perception.nodes.skeleton_3d_node:main",
        ],
    },
)
