const cards = [];
let total = 0;
function add(card) { cards.push(card); total += card.size; }
export { add, cards, total };
