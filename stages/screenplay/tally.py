"""Tally what one scene holds while its lines are read: assets, speeches, aliases, attributes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stages.drafts import AssetType, Mention


@dataclass
class AssetTally:
    """One asset seen in one scene: its name, speeches, surface forms and stated attributes."""

    asset_type: AssetType
    name: str
    lines: int = 0
    aliases: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)

    def attributes(self) -> dict[str, Any]:
        """The mention's attributes (``aliases``, ``dialogue_lines`` and what was stated)."""
        if self.asset_type == "location":
            return {}
        attributes: dict[str, Any] = {"aliases": list(self.aliases)}
        if self.asset_type == "character":
            attributes["dialogue_lines"] = self.lines
        attributes.update(self.extra)
        return attributes


@dataclass
class SceneTally:
    """The assets of one scene, in order of first appearance, keyed by type and name key."""

    number: int
    assets: dict[tuple[str, str], AssetTally] = field(default_factory=dict)

    def add(self, asset_type: AssetType, key: str, name: str, surface: str | None = None) -> AssetTally:
        """Record an asset (once per key) and the form it was written in.

        Args:
            asset_type: ``character``, ``location`` or ``prop``.
            key: What tells assets of the type apart.
            name: The name the mention gets.
            surface: The form in the text, kept as an alias.

        Returns:
            The asset's tally.
        """
        asset = self.assets.setdefault((asset_type, key), AssetTally(asset_type, name))
        if surface and surface not in asset.aliases:
            asset.aliases.append(surface)
        return asset

    def describe(self, key: str, description: str | None, age: str | None, gender: str | None) -> None:
        """Set a character's stated description, age and gender unless already set.

        Args:
            key: The character's key (it must have been added).
            description: What the script says about them.
            age: Their age as written.
            gender: ``"male"`` or ``"female"``.
        """
        asset = self.assets[("character", key)]
        for name, value in (("description", description), ("age", age), ("gender", gender)):
            if value and name not in asset.extra:
                asset.extra[name] = value

    def mentions(self) -> list[Mention]:
        """The scene's mentions, in order of first appearance."""
        return [
            Mention(asset.asset_type, asset.name, self.number, asset.attributes())
            for asset in self.assets.values()
        ]
