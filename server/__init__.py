"""cunbox server: the county's system of record and the bus master for its lockers."""
