"""The video track: moving digit sprites (``sprites``), video encoders including the report's S3D
(``encoders``), the shared video decoder (``decoder``), optical-flow and frame metrics (``metrics``)
and the fair comparison on video (``experiment``)."""
