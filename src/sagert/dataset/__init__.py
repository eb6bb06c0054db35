"""The back half of SAGE-RT: responses, judging, validated DPO pairs, export."""
