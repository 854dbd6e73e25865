"""Episode directories: written atomically, versioned, read back by the replay and sweep layers."""

from edgecase.record.episode import EPISODE_FORMAT_VERSION, EpisodeRecord, EpisodeWriter, read_episode, write_episode

__all__ = ["EPISODE_FORMAT_VERSION", "EpisodeRecord", "EpisodeWriter", "read_episode", "write_episode"]
