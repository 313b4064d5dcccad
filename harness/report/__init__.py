"""The static leaderboard: page data (pages), published reference rows (published), rendering (site)."""
