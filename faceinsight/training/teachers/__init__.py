"""Teachers: other projects' networks, run at training time only, whose outputs on our training
faces become soft targets. Serving never loads them."""
