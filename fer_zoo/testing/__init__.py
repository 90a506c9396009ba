"""Test helpers shared by fer_zoo's test suites."""

from fer_zoo.testing.test_case import TestCase

__all__ = ["TestCase"]
