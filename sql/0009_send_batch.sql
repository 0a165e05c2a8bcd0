-- msg_send_batch: several senders' messages in one transaction (group
-- commit). api.fcgi queues the sends that arrive while a batch is being
-- written and writes them together with set statements: the cost of a
-- statement (open, lock, plan) and of the commit is shared by the batch
-- instead of paid per message.
--
-- p_batch is a JSON array, one object per message, in the order the
-- messages take:
--   c conversation id, s sender id, i client_id, t kind, b body,
--   r the message's rank among the batch's messages to its conversation
--     (1, 2, ...), k how many messages the batch has for that conversation,
--   l the rank of this sender's last message to that conversation.
-- p_convs and p_pairs count the distinct conversations and (conversation,
-- sender) pairs. The caller leaves out messages with reply_to and never
-- puts one (sender, client_id) twice in a batch.
--
-- Every message in a batch must succeed, or none is written: an unknown
-- conversation, a sender who is not a member, or a client_id already taken
-- rolls the batch back and answers one row 'alone'; the caller then sends
-- each message on its own with msg_send, which gives each its own outcome.
-- Otherwise one row: 'ok', created_at, and for every message and member of
-- its conversation "position:id:seq:member" (positions 1-based in p_batch),
-- joined by commas.
--
-- Locks are taken in msg_send's order (conversation rows, the senders'
-- member rows, the message rows, heads), so a batch and a single send wait
-- for each other rather than deadlock; db_call retries a batch that two
-- batches' head rows still deadlock.

DELIMITER //
CREATE OR REPLACE PROCEDURE msg_send_batch(IN p_batch LONGTEXT CHARACTER SET utf8mb4,
	IN p_convs INT, IN p_pairs INT)
	MODIFIES SQL DATA
proc: BEGIN
	DECLARE v_now DATETIME(3) DEFAULT NOW(3);
	DECLARE v_out LONGTEXT;
	DECLARE EXIT HANDLER FOR 1062
	BEGIN
		ROLLBACK;
		SELECT 'alone', NULL, NULL;
	END;
	DECLARE EXIT HANDLER FOR SQLEXCEPTION
	BEGIN
		ROLLBACK;
		RESIGNAL;
	END;

	-- A batch's list below holds a line per message and member (32
	-- messages to groups of 1,000: about 1 MB, the default limit).
	SET SESSION group_concat_max_len = 16777216;
	START TRANSACTION;
	-- Every statement is driven by the batch (JSON_TABLE first, then
	-- STRAIGHT_JOIN over primary or unique keys): left to itself the
	-- optimizer scans a small table, and an UPDATE locks every row it
	-- scans.
	-- Each conversation's seq moves past all of the batch's messages to it
	-- (a row matched by several messages is updated once).
	UPDATE JSON_TABLE(p_batch, '$[*]' COLUMNS (c BIGINT UNSIGNED PATH '$.c',
			k INT PATH '$.k')) j
		STRAIGHT_JOIN conversations c FORCE INDEX (PRIMARY) ON c.id = j.c
		SET c.last_seq = c.last_seq + j.k, c.last_activity_at = v_now;
	IF ROW_COUNT() <> p_convs THEN
		ROLLBACK;
		SELECT 'alone', NULL, NULL;
		LEAVE proc;
	END IF;
	-- A sender has read up to their own last message of the batch; no
	-- member row, not a member (as in msg_send, the row always changes).
	UPDATE JSON_TABLE(p_batch, '$[*]' COLUMNS (c BIGINT UNSIGNED PATH '$.c',
			s BIGINT UNSIGNED PATH '$.s', k INT PATH '$.k', l INT PATH '$.l')) j
		STRAIGHT_JOIN conversations c FORCE INDEX (PRIMARY) ON c.id = j.c
		STRAIGHT_JOIN members m FORCE INDEX (PRIMARY) ON m.conversation_id = j.c AND m.user_id = j.s
		SET m.last_read_seq = GREATEST(m.last_read_seq, c.last_seq - j.k + j.l),
			m.delivered_seq = GREATEST(m.delivered_seq, c.last_seq - j.k + j.l);
	IF ROW_COUNT() <> p_pairs THEN
		ROLLBACK;
		SELECT 'alone', NULL, NULL;
		LEAVE proc;
	END IF;
	INSERT INTO messages (conversation_id, seq, sender_id, client_id, kind, body, reply_to,
		created_at)
		SELECT j.c, c.last_seq - j.k + j.r, j.s, j.i, j.t, j.b, NULL, v_now
		FROM JSON_TABLE(p_batch, '$[*]' COLUMNS (o FOR ORDINALITY,
			c BIGINT UNSIGNED PATH '$.c', s BIGINT UNSIGNED PATH '$.s',
			i VARCHAR(64) CHARACTER SET ascii PATH '$.i',
			t VARCHAR(16) CHARACTER SET ascii PATH '$.t',
			b MEDIUMTEXT CHARACTER SET utf8mb4 PATH '$.b',
			r INT PATH '$.r', k INT PATH '$.k')) j
		STRAIGHT_JOIN conversations c FORCE INDEX (PRIMARY) ON c.id = j.c
		ORDER BY j.o;
	-- message.new to every member of each conversation, once per message;
	-- heads are locked in user_id order (GROUP BY sorts), as everywhere.
	UPDATE (SELECT m.user_id, COUNT(*) AS k
			FROM JSON_TABLE(p_batch, '$[*]' COLUMNS (c BIGINT UNSIGNED PATH '$.c')) j
			STRAIGHT_JOIN members m FORCE INDEX (PRIMARY) ON m.conversation_id = j.c
			GROUP BY m.user_id) x
		STRAIGHT_JOIN user_heads h FORCE INDEX (PRIMARY) ON h.user_id = x.user_id
		SET h.last_seq = h.last_seq + x.k;
	-- A member's events of this batch take the seqs below their new head,
	-- in batch order (which is seq order within a conversation).
	INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload, created_at)
		SELECT m.user_id,
			h.last_seq - COUNT(*) OVER (PARTITION BY m.user_id)
				+ ROW_NUMBER() OVER (PARTITION BY m.user_id ORDER BY j.o),
			'message.new', j.c, msg.id, NULL, v_now
		FROM JSON_TABLE(p_batch, '$[*]' COLUMNS (o FOR ORDINALITY,
			c BIGINT UNSIGNED PATH '$.c', r INT PATH '$.r', k INT PATH '$.k')) j
		STRAIGHT_JOIN conversations c FORCE INDEX (PRIMARY) ON c.id = j.c
		STRAIGHT_JOIN messages msg FORCE INDEX (uq_conv_seq) ON msg.conversation_id = j.c
			AND msg.seq = c.last_seq - j.k + j.r
		STRAIGHT_JOIN members m FORCE INDEX (PRIMARY) ON m.conversation_id = j.c
		STRAIGHT_JOIN user_heads h FORCE INDEX (PRIMARY) ON h.user_id = m.user_id;
	-- What the caller needs, read under the conversation locks (as
	-- msg_send): "position:id:seq:member" for each message and member, in
	-- batch and user_id order.
	SELECT GROUP_CONCAT(j.o, ':', msg.id, ':', msg.seq, ':', m.user_id
			ORDER BY j.o, m.user_id SEPARATOR ',') INTO v_out
		FROM JSON_TABLE(p_batch, '$[*]' COLUMNS (o FOR ORDINALITY,
			c BIGINT UNSIGNED PATH '$.c', r INT PATH '$.r', k INT PATH '$.k')) j
		STRAIGHT_JOIN conversations c FORCE INDEX (PRIMARY) ON c.id = j.c
		STRAIGHT_JOIN messages msg FORCE INDEX (uq_conv_seq) ON msg.conversation_id = j.c
			AND msg.seq = c.last_seq - j.k + j.r
		STRAIGHT_JOIN members m FORCE INDEX (PRIMARY) ON m.conversation_id = j.c;
	COMMIT;
	SELECT 'ok', DATE_FORMAT(v_now, '%Y-%m-%d %H:%i:%s.%f'), v_out;
END //
DELIMITER ;
