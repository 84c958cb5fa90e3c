import { z } from 'zod';
import { marketListResponse, marketResponse } from '/work/main/src/modules/markets/markets.schemas.ts';
const j = z.toJSONSchema(marketListResponse, { target: 'draft-7', io: 'output', unrepresentable: 'any', reused: 'inline' });
console.log(JSON.stringify(j, null, 1).slice(0, 4000));
