-- Sending a message in one round trip. The statements are the ones the API
-- used to run one by one; as a procedure the whole transaction is one CALL
-- (on a busy server the protocol and the thread switches between seven
-- statements were a fifth of the database's CPU per message). Each
-- statement is one the optimizer settles at once (primary keys, no
-- subqueries), and the fan-out of conversations of up to 8 members is one
-- primary-key UPDATE and INSERT per member instead of two joins: planning
-- the joins cost more than the writes for the 1:1 and small group
-- conversations most messages go to. The database user needs EXECUTE (and
-- CREATE ROUTINE to migrate); ALL PRIVILEGES on the schema includes both.
--
-- The one result row: outcome ('ok', 'not_found', 'reply_to', 'duplicate'),
-- the message's id, created_at (DATETIME(3) text) and seq, and the members
-- to wake (user ids joined by commas). Deadlocks and other errors roll back
-- and are raised to the caller, which retries the CALL.

DELIMITER //
CREATE OR REPLACE PROCEDURE msg_send(IN p_cid BIGINT UNSIGNED, IN p_me BIGINT UNSIGNED,
	IN p_client_id VARCHAR(64) CHARACTER SET ascii, IN p_kind VARCHAR(16) CHARACTER SET ascii,
	IN p_body TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci, IN p_reply_to BIGINT UNSIGNED)
	MODIFIES SQL DATA
proc: BEGIN
	DECLARE v_seq BIGINT UNSIGNED;
	DECLARE v_id BIGINT UNSIGNED;
	DECLARE v_now DATETIME(3) DEFAULT NOW(3);
	DECLARE v_member INT DEFAULT 0;
	DECLARE v_uids MEDIUMTEXT;
	DECLARE v_n INT DEFAULT 0;
	DECLARE v_rest MEDIUMTEXT;
	DECLARE v_uid BIGINT UNSIGNED;
	DECLARE v_useq BIGINT UNSIGNED;
	DECLARE v_comma INT;
	-- A retried client_id: the caller answers with the first message.
	DECLARE EXIT HANDLER FOR 1062
	BEGIN
		ROLLBACK;
		SELECT 'duplicate', 0, NULL, 0, NULL;
	END;
	DECLARE EXIT HANDLER FOR SQLEXCEPTION
	BEGIN
		ROLLBACK;
		RESIGNAL;
	END;

	-- Statements the optimizer settles at once (primary keys, no
	-- subqueries): on a busy server planning costs more than the writes.
	START TRANSACTION;
	-- Locks the conversation row: seq order is commit order, and
	-- membership changes (which lock it first) wait for us.
	UPDATE conversations SET last_seq = LAST_INSERT_ID(last_seq + 1), last_activity_at = v_now
		WHERE id = p_cid;
	SET v_seq = LAST_INSERT_ID();
	-- Read after the lock: sees every membership change committed before.
	SELECT COUNT(*) INTO v_member FROM members WHERE conversation_id = p_cid AND user_id = p_me;
	IF v_member = 0 THEN
		ROLLBACK;
		SELECT 'not_found', 0, NULL, 0, NULL;
		LEAVE proc;
	END IF;
	IF p_reply_to IS NOT NULL AND NOT EXISTS (SELECT 1 FROM messages
			WHERE id = p_reply_to AND conversation_id = p_cid) THEN
		ROLLBACK;
		SELECT 'reply_to', 0, NULL, 0, NULL;
		LEAVE proc;
	END IF;
	INSERT INTO messages (conversation_id, seq, sender_id, client_id, kind, body, reply_to,
		created_at) VALUES (p_cid, v_seq, p_me, p_client_id, p_kind, p_body, p_reply_to, v_now);
	SET v_id = LAST_INSERT_ID();
	-- Whoever writes has read what came before.
	UPDATE members SET last_read_seq = v_seq, delivered_seq = GREATEST(delivered_seq, v_seq)
		WHERE conversation_id = p_cid AND user_id = p_me AND last_read_seq < v_seq;
	-- message.new to every member, the sender included (other devices).
	SELECT GROUP_CONCAT(user_id ORDER BY user_id SEPARATOR ','), COUNT(*) INTO v_uids, v_n
		FROM members WHERE conversation_id = p_cid;
	IF v_n <= 8 THEN
		-- A few members: two primary-key statements each, in user_id
		-- order like the joins below (concurrent fan-outs lock heads in
		-- the same order).
		SET v_rest = v_uids;
		WHILE v_rest <> '' DO
			SET v_comma = LOCATE(',', v_rest);
			SET v_uid = CAST(IF(v_comma > 0, LEFT(v_rest, v_comma - 1), v_rest) AS UNSIGNED);
			SET v_rest = IF(v_comma > 0, SUBSTRING(v_rest, v_comma + 1), '');
			UPDATE user_heads SET last_seq = LAST_INSERT_ID(last_seq + 1) WHERE user_id = v_uid;
			IF ROW_COUNT() > 0 THEN
				SET v_useq = LAST_INSERT_ID();
				INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload,
					created_at) VALUES (v_uid, v_useq, 'message.new', p_cid, v_id, NULL, v_now);
			END IF;
		END WHILE;
	ELSE
		UPDATE user_heads h JOIN members m ON m.user_id = h.user_id
			SET h.last_seq = h.last_seq + 1 WHERE m.conversation_id = p_cid;
		INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload, created_at)
			SELECT h.user_id, h.last_seq, 'message.new', p_cid, v_id, NULL, v_now
			FROM members m JOIN user_heads h ON h.user_id = m.user_id
			WHERE m.conversation_id = p_cid;
	END IF;
	COMMIT;
	SELECT 'ok', v_id, DATE_FORMAT(v_now, '%Y-%m-%d %H:%i:%s.%f'), v_seq, v_uids;
END //
DELIMITER ;
