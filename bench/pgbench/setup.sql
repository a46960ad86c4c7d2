-- Tables the pgbench limits run on, shaped like the service's own: a wallet debited on a condition, a ledger line
-- and an outbox row with a payment-sized event; and 50 seats contended by every client.
DROP TABLE IF EXISTS bench_wallets, bench_ledger, bench_outbox, bench_seats;
CREATE TABLE bench_wallets (user_id integer PRIMARY KEY, balance integer NOT NULL CHECK (balance >= 0));
INSERT INTO bench_wallets SELECT g, 1000000000 FROM generate_series(1, 10000) g;
CREATE TABLE bench_ledger (id bigserial PRIMARY KEY, user_id integer NOT NULL, amount integer NOT NULL,
  kind text NOT NULL, balance_after integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_outbox (seq bigserial PRIMARY KEY, id uuid NOT NULL DEFAULT gen_random_uuid(), topic text NOT NULL,
  key text NOT NULL, event jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_seats (id integer PRIMARY KEY, status text NOT NULL);
INSERT INTO bench_seats SELECT g, 'available' FROM generate_series(1, 50) g;
VACUUM ANALYZE;
