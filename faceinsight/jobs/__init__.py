"""Background video jobs: ids and tokens (:mod:`~faceinsight.jobs.access`), what a job runs
from (:mod:`~faceinsight.jobs.spec`), its typed state in the file store every process shares
(:mod:`~faceinsight.jobs.store`), who runs it and whether that runner is still alive
(:mod:`~faceinsight.jobs.runners`, :mod:`~faceinsight.jobs.liveness`), fair shares of the queue
(:mod:`~faceinsight.jobs.shares`), and the manager the web app uses
(:mod:`~faceinsight.jobs.manager`).
"""
