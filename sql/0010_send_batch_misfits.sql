-- Which messages make a batch of msg_send_batch (0009) fail.
--
-- A batch is all or nothing: when it answers 'alone', api.fcgi asks this
-- function for the positions (1-based, comma-separated) of the messages
-- that would fail: the sender is not a member of the conversation (or
-- there is no such conversation), or the sender already used the
-- client_id. Those are sent on their own and the rest again as a batch,
-- instead of every message of the batch on its own (one client retrying a
-- stored message doubled the work of each batch it landed in). Read without
-- locks after the batch rolled back: a hint; a second failure sends every
-- message on its own.

DELIMITER //
CREATE OR REPLACE FUNCTION msg_batch_misfits(p_batch LONGTEXT CHARACTER SET utf8mb4)
	RETURNS TEXT CHARACTER SET ascii
	READS SQL DATA
BEGIN
	DECLARE v_bad TEXT CHARACTER SET ascii;
	SELECT GROUP_CONCAT(j.o ORDER BY j.o SEPARATOR ',') INTO v_bad
		FROM JSON_TABLE(p_batch, '$[*]' COLUMNS (o FOR ORDINALITY,
			c BIGINT UNSIGNED PATH '$.c', s BIGINT UNSIGNED PATH '$.s',
			i VARCHAR(64) CHARACTER SET ascii PATH '$.i')) j
		WHERE NOT EXISTS (SELECT 1 FROM members m
				WHERE m.conversation_id = j.c AND m.user_id = j.s)
			OR EXISTS (SELECT 1 FROM messages x
				WHERE x.sender_id = j.s AND x.client_id = j.i);
	RETURN v_bad;
END //
DELIMITER ;
