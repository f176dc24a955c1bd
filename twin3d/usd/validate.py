"""Validation of written stages with ``pxr.UsdValidation``."""

from __future__ import annotations

from pathlib import Path

from .schema import register_schema

__all__ = ["validate_usd"]


def validate_usd(path_or_stage) -> list[str]:
    """Run every registered USD validator; return the error messages (empty = valid).

    Warnings are not returned; only ``ValidationErrorType.Error``.
    """
    register_schema()
    from pxr import Usd, UsdValidation

    stage = Usd.Stage.Open(str(path_or_stage)) if isinstance(path_or_stage, (str, Path)) else path_or_stage
    registry = UsdValidation.ValidationRegistry()
    ctx = UsdValidation.ValidationContext(registry.GetOrLoadAllValidators())
    errors = ctx.Validate(stage)
    out = []
    for e in errors:
        if e.GetType() == UsdValidation.ValidationErrorType.Error:
            sites = ", ".join(str(s.GetPrim().GetPath()) if s.GetPrim() else "" for s in e.GetSites())
            out.append(f"{e.GetName()}: {e.GetMessage()} [{sites}]")
    return out


def validation_report(path_or_stage) -> list[tuple[str, str]]:
    """All validation results as ``(type, message)`` pairs (errors and warnings)."""
    register_schema()
    from pxr import Usd, UsdValidation

    stage = Usd.Stage.Open(str(path_or_stage)) if isinstance(path_or_stage, (str, Path)) else path_or_stage
    ctx = UsdValidation.ValidationContext(UsdValidation.ValidationRegistry().GetOrLoadAllValidators())
    return [(str(e.GetType()), f"{e.GetName()}: {e.GetMessage()}") for e in ctx.Validate(stage)]
