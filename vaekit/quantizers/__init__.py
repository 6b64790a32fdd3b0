"""Vector quantizers (VQ, EMA codebooks): see the quantizer issue."""
