"""The vertical-farm site: towers, trays, growth cycles, stations, and the files they write."""
