"""Tests of astrofm.detect."""
