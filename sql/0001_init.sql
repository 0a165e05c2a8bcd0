-- Core schema: accounts, sessions, conversations, messages, the per-user event log.
-- utf8mb4 InnoDB throughout; times are UTC DATETIME(3).

CREATE TABLE IF NOT EXISTS users (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username VARCHAR(32) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  display_name VARCHAR(64) NOT NULL,
  about VARCHAR(280) NOT NULL DEFAULT '',
  avatar_media_id BIGINT UNSIGNED NULL,
  password_hash VARCHAR(255) CHARACTER SET ascii NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  last_seen_at DATETIME(3) NULL,
  deleted_at DATETIME(3) NULL,
  UNIQUE KEY uq_username (username),
  KEY ix_display_name (display_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per device login. The refresh token is opaque; only its SHA-256 is kept.
CREATE TABLE IF NOT EXISTS sessions (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT UNSIGNED NOT NULL,
  device_name VARCHAR(64) NOT NULL DEFAULT '',
  user_agent VARCHAR(255) NOT NULL DEFAULT '',
  ip VARCHAR(45) CHARACTER SET ascii NOT NULL DEFAULT '',
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  last_used_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  expires_at DATETIME(3) NOT NULL,
  revoked_at DATETIME(3) NULL,
  KEY ix_user (user_id),
  CONSTRAINT fk_sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Every refresh token ever issued for a session. Presenting one that was
-- already rotated (superseded_at set) means it leaked: the session is revoked.
CREATE TABLE IF NOT EXISTS refresh_tokens (
  token_hash BINARY(32) NOT NULL PRIMARY KEY,
  session_id BIGINT UNSIGNED NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  superseded_at DATETIME(3) NULL,
  KEY ix_session (session_id),
  CONSTRAINT fk_refresh_session FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS conversations (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  type ENUM('direct','group') NOT NULL,
  title VARCHAR(128) NULL,
  avatar_media_id BIGINT UNSIGNED NULL,
  -- "low:high" user ids for direct conversations: one per pair.
  direct_key VARCHAR(41) CHARACTER SET ascii NULL,
  created_by BIGINT UNSIGNED NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  last_seq BIGINT UNSIGNED NOT NULL DEFAULT 0,
  last_message_id BIGINT UNSIGNED NULL,
  last_activity_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  e2ee TINYINT(1) NOT NULL DEFAULT 0,
  UNIQUE KEY uq_direct (direct_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS members (
  conversation_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  role ENUM('owner','admin','member') NOT NULL DEFAULT 'member',
  joined_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  last_read_seq BIGINT UNSIGNED NOT NULL DEFAULT 0,
  delivered_seq BIGINT UNSIGNED NOT NULL DEFAULT 0,
  muted_until DATETIME(3) NULL,
  PRIMARY KEY (conversation_id, user_id),
  KEY ix_user (user_id, conversation_id),
  CONSTRAINT fk_members_conv FOREIGN KEY (conversation_id) REFERENCES conversations (id) ON DELETE CASCADE,
  CONSTRAINT fk_members_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS messages (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  conversation_id BIGINT UNSIGNED NOT NULL,
  seq BIGINT UNSIGNED NOT NULL,
  sender_id BIGINT UNSIGNED NOT NULL,
  client_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
  kind ENUM('text','image','video','voice','file','system') NOT NULL DEFAULT 'text',
  body TEXT NULL,
  reply_to BIGINT UNSIGNED NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  edited_at DATETIME(3) NULL,
  deleted_at DATETIME(3) NULL,
  UNIQUE KEY uq_conv_seq (conversation_id, seq),
  -- Idempotent sends: a retried client_id finds the first message.
  UNIQUE KEY uq_sender_client (sender_id, client_id),
  FULLTEXT KEY ft_body (body),
  CONSTRAINT fk_messages_conv FOREIGN KEY (conversation_id) REFERENCES conversations (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS reactions (
  message_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  emoji VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (message_id, user_id, emoji),
  CONSTRAINT fk_reactions_msg FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE
) ENGINE=InnoDB;

-- The head of each user's event log: the last sequence number handed out and
-- the oldest one still kept (older cursors get 410 and resync).
CREATE TABLE IF NOT EXISTS user_heads (
  user_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  last_seq BIGINT UNSIGNED NOT NULL DEFAULT 0,
  min_seq BIGINT UNSIGNED NOT NULL DEFAULT 1,
  CONSTRAINT fk_heads_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB;

-- One ordered log per user. Message events reference the message (ref_id) and
-- are rendered from it when read, so a group send stores one message row and
-- one small row per recipient. Other events carry their JSON payload.
CREATE TABLE IF NOT EXISTS user_events (
  user_id BIGINT UNSIGNED NOT NULL,
  seq BIGINT UNSIGNED NOT NULL,
  type VARCHAR(32) CHARACTER SET ascii NOT NULL,
  conversation_id BIGINT UNSIGNED NULL,
  ref_id BIGINT UNSIGNED NULL,
  payload TEXT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (user_id, seq),
  KEY ix_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Single-use tickets that let EventSource (which cannot send headers) open a stream.
CREATE TABLE IF NOT EXISTS stream_tickets (
  ticket_hash BINARY(32) NOT NULL PRIMARY KEY,
  user_id BIGINT UNSIGNED NOT NULL,
  session_id BIGINT UNSIGNED NOT NULL,
  expires_at DATETIME(3) NOT NULL,
  KEY ix_expires (expires_at)
) ENGINE=InnoDB;

-- Fixed-window counters for rate limits (memcached holds them when it is up;
-- this table keeps limits working when it is not).
CREATE TABLE IF NOT EXISTS rate_limits (
  bucket VARCHAR(128) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  window_start DATETIME NOT NULL,
  hits INT UNSIGNED NOT NULL DEFAULT 0
) ENGINE=InnoDB;
