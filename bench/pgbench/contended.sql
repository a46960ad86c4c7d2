-- Every client races for the same 50 seats: the conditional update that decides a seat race.
\set seat random(1, 50)
UPDATE bench_seats SET status = 'held' WHERE id = :seat AND status = 'available';
