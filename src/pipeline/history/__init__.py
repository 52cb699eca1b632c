"""History and proof: chain verification, change feed, replay, corrections, time travel, audit search,
read log and anchors."""
