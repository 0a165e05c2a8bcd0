-- Presence: who is marked online in MySQL. A row means "online" was announced
-- to the user's contacts; the sweeper deletes rows whose users.last_seen_at
-- went stale and announces "offline". memcached holds the live flag with a
-- short TTL; this table keeps transitions exact (one announcement each) and
-- lets presence degrade to MySQL when memcached is down.
CREATE TABLE IF NOT EXISTS presence_online (
  user_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  presence_since DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  CONSTRAINT fk_presence_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB;

