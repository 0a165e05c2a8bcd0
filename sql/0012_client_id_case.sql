-- client_id is compared byte for byte.
--
-- The column took the ascii charset's default collation, which ignores
-- case: "Zq9" and "zQ9" were one client_id, so a second, different send
-- was taken for a retry of the first and answered with the first message
-- (its own body never stored). The API allows both cases and api.fcgi's
-- batching already compares exactly (strcmp); now the unique key does too.

ALTER TABLE messages MODIFY client_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;

-- msg_batch_misfits (0010) compares a batch's client_ids with the column:
-- the same, with the comparison in the column's collation.
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
				WHERE x.sender_id = j.s AND x.client_id = j.i COLLATE ascii_bin);
	RETURN v_bad;
END //
DELIMITER ;
