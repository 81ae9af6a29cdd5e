"""The model runtime: a LiteRT model any thread may run, its outputs checked at load.

The detector (:mod:`faceinsight.detectors`) and the face models (:mod:`faceinsight.models`)
run through this one wrapper.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np


class ModelError(RuntimeError):
    """A model cannot serve: its file is missing, corrupt or not in the manifest, LiteRT cannot
    load it, or its inputs or outputs are not the shapes the product reads."""


Shape = tuple[int, ...]


class TFLiteModel:
    """A LiteRT model that any thread may run: each thread gets its own interpreter (one is not
    thread-safe), so photos analysed in parallel never wait for one another. The first
    interpreter is made here, so a model that does not load fails at start-up.

    :param content: the ``.tflite`` bytes (verified by the caller).
    :param name: names the model in errors.
    :param threads: LiteRT threads per interpreter.
    :param outputs: the shape each output must have, in output-index order; None: not checked
        (a converter finding out what a new model gives).
    :param input_shape: the shape its input must have; None: not checked.
    :raises ModelError: LiteRT cannot load the bytes, or an input's or output's shape is not the
        one expected (outputs swapped, or another model).
    """

    def __init__(self, content: bytes, name: str, threads: int = 1,
                 outputs: Sequence[Shape] | None = None, input_shape: Shape | None = None):
        self.content, self.name, self.threads = content, name, threads
        self._local = threading.local()
        interpreter = self._interpreter()
        self._input = interpreter.get_input_details()[0]
        details = sorted(interpreter.get_output_details(), key=lambda d: d["index"])
        self._outputs = [d["index"] for d in details]
        self.input_shape: Shape = tuple(int(v) for v in self._input["shape"])
        self.output_shapes: list[Shape] = [tuple(int(v) for v in d["shape"]) for d in details]
        if outputs is not None:
            self._check_outputs([tuple(shape) for shape in outputs])
        if input_shape is not None and self.input_shape != tuple(input_shape):
            raise ModelError(f"model {name} takes inputs of shape {self.input_shape}, expected "
                             f"{tuple(input_shape)}")

    def _interpreter(self):
        """This thread's interpreter, made on its first call."""
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            from ai_edge_litert.interpreter import Interpreter

            try:
                interpreter = Interpreter(model_content=self.content, num_threads=self.threads)
                interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as error:
                raise ModelError(f"model {self.name} could not be loaded: {error}") from error
            self._local.interpreter = interpreter
        return interpreter

    def _check_outputs(self, expected: list[Shape]) -> None:
        if self.output_shapes != expected:
            raise ModelError(f"model {self.name} gives outputs of shapes {self.output_shapes}, "
                             f"expected {expected} (in output order): its outputs are swapped (the "
                             f"manifest's output_order) or it is not the model the manifest names")

    def run(self, pixels: np.ndarray) -> list[np.ndarray]:
        """Run one input (cast to float32 and shaped as the model's input) and return every
        output, in output-index order.

        :param pixels: e.g. an H x W uint8 crop, or a detector's float32 input tensor.
        """
        interpreter = self._interpreter()
        interpreter.set_tensor(self._input["index"], pixels.astype(np.float32).reshape(self.input_shape))
        interpreter.invoke()
        return [interpreter.get_tensor(index).copy() for index in self._outputs]
