"""The campaign on disk and its state: spec, layout, seeds, shards, the sharding plan, the
index of every shard, status, the campaign file (store) and verify. No LAMMPS, no scheduler, no
torch: what runs on a node is in :mod:`glasskit.stages`, how it gets there in
:mod:`glasskit.batch`."""
