// Tests keep the functions' logs quiet unless asked: AMUN_LOG_LEVEL=INFO npm test.
process.env.AMUN_LOG_LEVEL ??= 'ERROR';
