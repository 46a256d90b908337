"""The git side of releasing: repository access, branches, version files, release notes and their pages."""
