-- Blocking a person.
--
-- A row says user_id blocked blocked_id. While either of two people blocks
-- the other, their direct conversation is closed (conversations.closed_at,
-- as for a deleted account: a send answers 403 conversation_closed and the
-- send path needs no statement more), a new one is not started, the blocked
-- person cannot add the blocker to a group, and neither sees the other's
-- presence. Unblocking opens the direct conversation again once no block
-- is left between the two and neither account is deleted (lib/chat/block.c).
CREATE TABLE IF NOT EXISTS blocks (
  user_id BIGINT UNSIGNED NOT NULL,
  blocked_id BIGINT UNSIGNED NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (user_id, blocked_id),
  KEY ix_blocked (blocked_id, user_id),
  CONSTRAINT fk_blocks_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT fk_blocks_blocked FOREIGN KEY (blocked_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB;
