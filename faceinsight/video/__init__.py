"""Videos: which files are videos (:mod:`~faceinsight.video.containers`), decoding in a limited
child process (:mod:`~faceinsight.video.decoder`), face tracks
(:mod:`~faceinsight.video.tracking`), the analysis of a whole video
(:mod:`~faceinsight.video.analysis`) and its results as CSV (:mod:`~faceinsight.video.results`).
"""
