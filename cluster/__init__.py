"""Running jobs beyond one machine: the Ray executor (cluster.ray_executor) and warm model actors
(cluster.models). Imported only when EXECUTOR=ray; `make run` never imports Ray."""
